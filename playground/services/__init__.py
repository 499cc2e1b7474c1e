"""The domain's rules, by area: catalog, runs, files, galleries (deployments and billing next).

Callers import the area they need (`from playground.services import runs`). Services raise only
`playground.errors` exceptions.
"""
