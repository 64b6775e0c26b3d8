// Prometheus text exposition format 0.0.4, written by hand: HELP/TYPE lines, label escaping and
// number formatting (https://prometheus.io/docs/instrumenting/exposition_formats/).

/** Content-Type of the text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge';

/** Label name/value pairs of one sample, in output order. */
export type Labels = readonly (readonly [string, string])[];

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * Escape a label value: backslash, double quote and line feed are the only characters the
 * format escapes (`\\`, `\"`, `\n`); every other character, control characters included, is
 * kept as UTF-8. Bytes of a name that were not valid UTF-8 in /proc (U+DC80-U+DCFF, see
 * docs/serve.md) cannot be written in UTF-8 and become U+FFFD.
 */
export function escapeLabelValue(value: string): string {
  const escaped = value.replace(/[\\"\n]/g, (c) =>
    c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n',
  );
  return LONE_SURROGATE.test(escaped) ? escaped.replace(LONE_SURROGATE_ALL, '\ufffd') : escaped;
}

/** Escape HELP text: backslash and line feed only (quotes stay as they are). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Format a sample value: Go float syntax, with `NaN`, `+Inf` and `-Inf` for the specials. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Accumulates metric families into one exposition text. */
export class PrometheusWriter {
  private readonly parts: string[] = [];

  /** Start a metric family: its HELP and TYPE lines. Samples of it must follow. */
  family(name: string, type: MetricType, help: string): this {
    this.parts.push(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
    return this;
  }

  /** One sample line of the current family. */
  sample(name: string, value: number, labels?: Labels): this {
    let line = name;
    if (labels !== undefined && labels.length > 0) {
      line += '{';
      for (let i = 0; i < labels.length; i++) {
        const [k, v] = labels[i]!;
        line += `${i > 0 ? ',' : ''}${k}="${escapeLabelValue(v)}"`;
      }
      line += '}';
    }
    this.parts.push(`${line} ${formatValue(value)}\n`);
    return this;
  }

  /** A family with one unlabelled sample. */
  single(name: string, type: MetricType, help: string, value: number): this {
    return this.family(name, type, help).sample(name, value);
  }

  /** The exposition text. */
  text(): string {
    return this.parts.join('');
  }
}
