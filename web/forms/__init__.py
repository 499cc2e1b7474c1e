"""HTML forms: the run form built from a version's schema, history filters, account forms, the
deployment form."""
