"""The Cloud Storage JSON API subset of the emulator (routes -> responses -> models)."""
