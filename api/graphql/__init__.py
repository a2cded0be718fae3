"""The GraphQL API at /graphql: dashboards, member services and apps, under the one policy.

Resolvers translate; `auth.policy` (apps) and `auth.staff.desk` (staff) decide.
This package never imports `api.fhir`: both translate the same domain.
"""
