#!/usr/bin/env -S node --loader ts-node/esm --no-warnings=ExperimentalWarning
// Development entry point: runs the TypeScript sources without a build (needs ts-node, not a dependency).
import { execute } from '@oclif/core';

await execute({ development: true, dir: import.meta.url });
