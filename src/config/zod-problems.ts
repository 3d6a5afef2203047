// Turns zod issues into problems that point at the YAML line of the field.
import type { z } from 'zod';
import type { Problem } from '../errors.js';
import { type FieldPath, problemAt, type YamlSource } from './yaml-source.js';

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(data: unknown, path: FieldPath): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

export function zodProblems(src: YamlSource, error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push(
          problemAt(src, [...path, key], 'unknown field (a typo must not silently weaken the firewall)', { key: true }),
        );
      }
      continue;
    }
    const actual = valueAt(src.data, path);
    let message = issue.message;
    if (actual === undefined) {
      message = 'required field is missing';
    } else if (issue.code === 'invalid_type' && /^Invalid input/.test(message)) {
      message = `expected ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : issue.expected}, got ${typeName(actual)}`;
    } else if (/^Invalid input/.test(message)) {
      message = `${message.replace(/^Invalid input:?\s*/, '') || 'invalid value'}, got ${typeName(actual)}`;
    } else if (actual !== undefined && typeof actual !== 'object') {
      message = `${message} (got ${JSON.stringify(actual)})`;
    }
    problems.push(problemAt(src, path, message));
  }
  return problems;
}
