/** The actor hub (filled in by the login work). */
export class SessionHub {
  get size(): number {
    return 0;
  }
  async close(): Promise<void> {}
}
