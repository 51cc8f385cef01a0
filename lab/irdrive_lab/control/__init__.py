"""The lab's control plane: config, processes, state, journal, errors, the manager and labd."""
