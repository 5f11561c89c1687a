"""The keeper: the running service above the pipeline. `cycle` runs one cycle (feeds → snapshot →
risk → policy → sign → push → store) and settles crashes; `store` is the SQLite audit trail;
`scheduler` drives cycles; `config`, `sources` and `runtime` build it all from the operator's YAML;
`metrics` and `logs` report on it."""
