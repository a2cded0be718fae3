"""Staff users of the plan: passwords, API keys, console sign-in and sessions."""
