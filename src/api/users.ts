import type { ApiContext, App } from './context.ts';

export function userRoutes(_app: App, _ctx: ApiContext): void {}
