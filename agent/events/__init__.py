"""Analytics events: their types (`types`, pure) and their wire form (`convert`, ids, sequence).

Import the submodule you need: `agent.events.types` loads no protobuf, so the rules that
produce events stay free of the wire format.
"""
