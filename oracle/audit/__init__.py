"""What lets anyone check the oracle: each signed batch's inputs bundle and the verifier that
reruns the engine and the policy on it (`oracle verify`). Above the pipeline, below the keeper
(which writes bundles) and the command line."""
