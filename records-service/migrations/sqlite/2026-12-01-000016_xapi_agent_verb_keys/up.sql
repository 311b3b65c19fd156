-- Agent and verb together, one key row per pair a statement matches with an agent it names
-- directly (kind 'agent_verb', key the agent's key, a newline, the verb): a query by both
-- walks exactly the statements it returns instead of every statement of the agent. Pairs for
-- the statements stored already.
INSERT OR IGNORE INTO xapi_statement_keys (tenant_id, kind, key, related, stored, statement_id)
SELECT a.tenant_id, 'agent_verb', a.key || char(10) || v.key, a.related, a.stored, a.statement_id
FROM xapi_statement_keys a
JOIN xapi_statement_keys v
  ON v.tenant_id = a.tenant_id AND v.statement_id = a.statement_id AND v.kind = 'verb'
WHERE a.kind = 'agent' AND NOT a.related;
