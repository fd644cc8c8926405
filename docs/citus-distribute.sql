-- Generated from survey_service/db/schema.py (DISTRIBUTED, REFERENCE, LOCAL): run once on
-- the Citus coordinator after `survey-service migrate`, before data arrives.
-- Local tables stay on the coordinator: rollup_state, erasure, rate_window, interaction,
-- outcome, app_user, user_session, webhook_endpoint, webhook_message, webhook_attempt,
-- alert_email, kpi_alert, report_run.
-- The fold's and the alerts' queues are filled by statement-level triggers on response
-- and assignment; Citus runs triggers on distributed tables only with
-- citus.enable_unsafe_triggers, and the queue tables are co-located so each shard's
-- trigger writes its own shard.
CREATE EXTENSION IF NOT EXISTS citus;
SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('survey');
SELECT create_reference_table('survey_version');
SELECT create_reference_table('api_key');
SELECT create_reference_table('short_link');
SELECT create_reference_table('suppression');
SELECT create_reference_table('alert_settings');
SELECT create_distributed_table('response', 'survey_id');
SELECT create_distributed_table('assignment', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('invitation', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('experiment_subject', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_unfolded', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_unfolded', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_event_queue', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('follow_up_case', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup_daily', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup_daily_totals', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('response_rollup_daily_staff', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup_daily', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup_daily_totals', 'survey_id', colocate_with => 'response');
SELECT create_distributed_table('assignment_rollup_daily_staff', 'survey_id', colocate_with => 'response');
