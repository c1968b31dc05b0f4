"""Developer tooling: downloads, data generation. Not shipped in the wheel."""
