DROP INDEX people_by_manager;
