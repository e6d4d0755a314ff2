import type { ApiContext, App } from './context.ts';

export function accountRoutes(_app: App, _ctx: ApiContext): void {}
