-- Generated from survey_service/db/schema.py (DISTRIBUTED, REFERENCE, LOCAL): run once on
-- the Citus coordinator after `survey-service migrate`, before data arrives.
-- Local tables stay on the coordinator: rollup_state, erasure, rate_window.
CREATE EXTENSION IF NOT EXISTS citus;
SELECT create_reference_table('survey');
SELECT create_reference_table('survey_version');
SELECT create_reference_table('api_key');
SELECT create_reference_table('short_link');
SELECT create_reference_table('suppression');
SELECT create_distributed_table('response', 'survey_id');
SELECT create_distributed_table('assignment', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('invitation', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('experiment_subject', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup_daily', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup_daily_totals', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup_daily', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup_daily_totals', 'survey_id', colocate_with => 'response');
