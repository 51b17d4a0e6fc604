"""Config-writing scripts and templates: find the config they write, check it, map findings back."""
