"""The `cogmill` command: Replicate's verbs from a terminal, over the public HTTP API only (httpx
against /v1), so it works against replicate.com too, apart from Cogmill's own push. It imports
nothing of the rest of the project."""
