DROP TABLE role_bindings;
