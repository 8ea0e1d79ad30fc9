//! Permissions, resources, grants, and the decision whether a principal may act.
