import type { ApiContext, App } from './context.ts';

export function managementRoutes(_app: App, _ctx: ApiContext): void {}
