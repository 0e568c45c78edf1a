"""Index: embed the units and keep them, with the passages, in an index folder with a checked manifest."""
