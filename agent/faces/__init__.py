"""Faces: detect small faces in head crops, align them, embed them for re-identification.

Pure numpy decoding of the shipped face models' raw outputs lives here; running the models
goes through `agent.inference` like every other model.
"""
