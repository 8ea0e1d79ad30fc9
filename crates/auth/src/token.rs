//! Signed bearer tokens (JWT, HS256 or RS256) carrying a principal and its grants.
