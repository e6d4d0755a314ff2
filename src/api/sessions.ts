import type { ApiContext, App } from './context.ts';

export function sessionRoutes(_app: App, _ctx: ApiContext): void {}
