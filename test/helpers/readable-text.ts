/**
 * For the tests that prove histories hold no personal data in clear. What a reader of the stored history could see: its JSON, and every payload's data and metadata
 * decoded from base64 (a search attribute or an unencrypted input would be readable there).
 */
export function readableText(json: unknown): string {
  const parts: string[] = [JSON.stringify(json)];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.data === 'string') parts.push(Buffer.from(record.data, 'base64').toString('utf8'));
    if (record.metadata && typeof record.metadata === 'object') {
      for (const value of Object.values(record.metadata as Record<string, unknown>)) if (typeof value === 'string') parts.push(Buffer.from(value, 'base64').toString('utf8'));
    }
    Object.values(record).forEach(walk);
  };
  walk(json);
  return parts.join('\n');
}

