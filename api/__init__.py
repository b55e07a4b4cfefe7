"""HTTP API: accepts media, creates jobs, serves their state. No model runs here."""
