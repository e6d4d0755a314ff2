import type { ApiContext, App } from './context.ts';

export function registrationRoutes(_app: App, _ctx: ApiContext): void {}
