/**
 * How the REST API checks requests against their schemas (PROTOCOL.md §6): bodies are JSON and
 * typed exactly as the schema says (`5` where a string is due is refused, never stored as "5"),
 * while query strings, path parameters and headers, which are always text, are converted to the
 * schema's types (`limit=10` is the number 10, `blocked=true` the boolean).
 *
 * Both are fastify's own ajv compiler (@fastify/ajv-compiler: the same formats, keywords and
 * external schemas), built twice: once converting, once not; each schema goes to the one for its
 * part of the request. Nothing is removed or defaulted that a schema does not say.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler } from 'fastify';

type BuildValidator = AjvCompiler.BuildCompilerFromPool;
/** What a compiler of the pool really is (its declared type takes a bare schema; fastify hands it the route). */
type Compile = FastifySchemaCompiler<unknown>;

/** ajv options shared by both compilers. */
const common = { allErrors: false, removeAdditional: false, useDefaults: true } as const;

/**
 * The `schemaController.compilersFactory.buildValidator` of the REST app: strict for `body`,
 * converting (`coerceTypes: 'array'`) for `querystring`, `params` and `headers`.
 */
export function buildValidator(): BuildValidator {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const plugins = options?.plugins ?? [];
    const strict = pool(externalSchemas, { plugins, customOptions: { ...common, coerceTypes: false } }) as unknown as Compile;
    const converting = pool(externalSchemas, { plugins, customOptions: { ...common, coerceTypes: 'array' } }) as unknown as Compile;
    const compile: Compile = (route) => {
      if (route.httpPart === 'body') return strict(route);
      // fastify lower-cases the names of a headers schema only for its own compiler: ours are written in lower case.
      if (route.httpPart === 'headers') {
        const upper = Object.keys((route.schema as { properties?: object }).properties ?? {}).find((n) => n !== n.toLowerCase());
        if (upper) throw new Error(`${route.method} ${route.url}: write header ${upper} in lower case in its schema`);
      }
      return converting(route);
    };
    return compile as unknown as ReturnType<BuildValidator>;
  };
}
