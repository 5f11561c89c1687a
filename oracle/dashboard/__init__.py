"""`oracle serve`: a read-only web dashboard of the registry, the keeper and its verification
(Flask, server-rendered). Above the keeper (it reads the keeper's store), under the CLI."""
