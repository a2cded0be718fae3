"""The hosted member pages: sign-in, account creation, consent, connected apps."""
