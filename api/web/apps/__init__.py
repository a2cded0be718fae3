"""The public app pages: the gallery, member education, developer registration and its JSON
API, and the SMART User-access Brands bundle."""
