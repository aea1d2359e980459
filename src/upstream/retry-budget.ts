// Retry budget (Finagle-style token bucket): every first attempt deposits budgetPercent/100
// of a token, every retry withdraws one. So retries stay ≤ budgetPercent% of requests
// (+1: the bucket starts with one token), and a dead upstream is never hit with (1+attempts)×
// the client load.
export class RetryBudget {
  private tokens = 1;
  constructor(private readonly ratio: number, private readonly cap = 100) {}

  deposit(): void {
    this.tokens = Math.min(this.cap, this.tokens + this.ratio);
  }

  tryWithdraw(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
