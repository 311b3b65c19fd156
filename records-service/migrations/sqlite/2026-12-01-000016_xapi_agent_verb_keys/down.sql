DELETE FROM xapi_statement_keys WHERE kind = 'agent_verb';
