-- The operator: the tenant that runs the installation (the outsourcing centre itself). Its
-- administrators create and manage the other tenants (client companies). The oldest tenant
-- is the operator of an existing installation; on a new one, the first tenant created.
ALTER TABLE tenants ADD COLUMN operator BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE tenants SET operator = TRUE WHERE id = (SELECT MIN(id) FROM tenants);
