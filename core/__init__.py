"""Service core shared by the API, the workers and the CLI: settings, database, job state, blob store."""
