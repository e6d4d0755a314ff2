/**
 * Scenario (c), push round trip to listening phones: NOT measured yet. The server does not offer
 * pushes: the app channel refuses `hello` with op "listen" (BAD_MESSAGE, src/protocol/responder.ts),
 * and the browsers' PROVOKE answers CANNOT_PROVOKE (no REST provokeLogin either). When pushes land, this
 * scenario is: phones `listen` on kept-open connections; a browser waiting on a session whose
 * last account is one of them sends PROVOKE; latency from PROVOKE sent to the phone's `push`
 * frame, and to the browser's LOGIN after the phone accepts.
 */
export const pushRoundTrip = {
  skipped: true,
  reason: 'pushes are not available in the server yet: hello op "listen" is refused (BAD_MESSAGE) and PROVOKE answers CANNOT_PROVOKE; nothing measured',
} as const;
