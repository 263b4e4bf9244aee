"""Sub-commands of the `vakstem` CLI, one module per area, registered in `vakstem.cli`."""
