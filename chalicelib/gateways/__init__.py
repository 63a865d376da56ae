"""One class per AWS service, client injected; AWS errors become domain errors."""
