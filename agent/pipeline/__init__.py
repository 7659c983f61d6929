"""The edge pipeline assembled: offline analysis of a file, and the live box runner."""
