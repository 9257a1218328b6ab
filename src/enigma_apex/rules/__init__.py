"""Pure rule code: firm profiles, account tracking, rule verdicts."""
