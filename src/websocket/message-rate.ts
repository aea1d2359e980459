// A client's message-rate limit on one WebSocket (websocket.messagesPerSecond): a bucket of
// one second's worth of messages, refilled continuously.
export class MessageRate {
  private tokens: number;
  private filledAt = Date.now();

  /** `rate` 0: no limit */
  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  /** false: this message is over the rate */
  take(): boolean {
    const rate = this.rate;
    if (rate <= 0) return true;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.filledAt) * rate) / 1000);
    this.filledAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
