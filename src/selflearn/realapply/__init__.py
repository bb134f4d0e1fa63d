"""Real apply: patches parsed and planned, the workspace on disk, and the steps of a cycle."""
