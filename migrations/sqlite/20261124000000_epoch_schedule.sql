-- The learning rate each epoch ran at (schedules) and, for multi-task nets, the task it
-- trained on. NULL for models without either (the logistic-regression baseline).
ALTER TABLE epochs ADD COLUMN learning_rate REAL;
ALTER TABLE epochs ADD COLUMN task TEXT;
