"""Getting seats to PCs: the share the agent reads (:mod:`.publish`, :mod:`.agent_limits`), the task
that starts it (:mod:`.scheduled_task`), its installer (:mod:`.agent_package`), the rollout view
(:mod:`.rollout`), and portable bundles (:mod:`.bundle`)."""
