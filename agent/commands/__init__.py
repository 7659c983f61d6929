"""One module per `oko-agent` command; `agent.cli` only assembles them."""
