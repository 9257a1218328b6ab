// Enigma-Apex strategy for NinjaTrader 8: executes the hub's orders for the chart's instrument with managed
// orders (EnterLong/EnterShort with SetStopLoss/SetProfitTarget), for traders who run strategies rather than the
// AddOn. It speaks the same executor protocol (docs/protocol.md) with an executor token for this account; orders
// for other instruments are refused with a reason. Hub commands run on the strategy's own thread
// (TriggerCustomEvent), as NinjaScript requires.
#region Using declarations
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using EnigmaApex.Protocol;
using NinjaTrader.Cbi;
#endregion

namespace NinjaTrader.NinjaScript.Strategies
{
    public class EnigmaApexAutoTrader : Strategy, IBroker
    {
        HubConnection connection;
        ExecutorSession session;
        readonly Dictionary<string, Order> orders = new Dictionary<string, Order>();

        public string HubUrl { get; set; }
        public string Token { get; set; }
        public double FlattenAfterDisconnectSeconds { get; set; }

        protected override void OnStateChange()
        {
            if (State == State.SetDefaults)
            {
                Name = "EnigmaApexAutoTrader";
                Description = "Executes Enigma-Apex hub orders for this chart's instrument with managed orders.";
                Calculate = Calculate.OnPriceChange;
                EntriesPerDirection = 10;
                EntryHandling = EntryHandling.UniqueEntries;
                IsExitOnSessionCloseStrategy = true;
                BarsRequiredToTrade = 0;
                HubUrl = "ws://127.0.0.1:8765";
                Token = Environment.GetEnvironmentVariable("ENIGMA_APEX_TOKEN") ?? "";
                FlattenAfterDisconnectSeconds = 30;
            }
            else if (State == State.Realtime)
            {
                if (string.IsNullOrEmpty(Token)) { Print("Enigma-Apex: no token; not connecting"); return; }
                session = new ExecutorSession(this);
                connection = new HubConnection(HubUrl, Token, "NinjaTrader strategy", session)
                {
                    FlattenAfterDisconnectSeconds = FlattenAfterDisconnectSeconds,
                    Status = text => Print("Enigma-Apex: " + text),
                    FlattenAll = () => OnStrategyThread(() => Flatten(Account.Name, true)),
                };
                connection.Start();
            }
            else if (State == State.Terminated)
            {
                if (connection != null) connection.Dispose();
                connection = null;
            }
        }

        /// <summary>Run on the strategy's thread and wait (at most 10 s) for the result.</summary>
        T OnStrategyThread<T>(Func<T> action)
        {
            T result = default(T);
            using (var done = new ManualResetEventSlim())
            {
                TriggerCustomEvent(_ => { try { result = action(); } finally { done.Set(); } }, null);
                if (!done.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the strategy thread did not answer");
            }
            return result;
        }

        // ------------------------------------------------------------------ IBroker (called by the session)
        public IList<string> Accounts() { return new List<string> { Account.Name }; }

        public BrokerResult Place(OrderCommand o)
        {
            if (o.Account != Account.Name) return BrokerResult.No("this strategy trades " + Account.Name + " only");
            if (o.Symbol != Instrument.FullName) return BrokerResult.No("this strategy trades " + Instrument.FullName + " only");
            return OnStrategyThread(() =>
            {
                if (orders.ContainsKey(o.Key)) return new BrokerResult(true, "already placed");
                if (o.BracketStop.HasValue) SetStopLoss(o.Key, CalculationMode.Price, (double)o.BracketStop.Value, false);
                if (o.BracketTarget.HasValue) SetProfitTarget(o.Key, CalculationMode.Price, (double)o.BracketTarget.Value);
                bool buy = o.Side == "buy";
                Order order;
                if (o.OrderType == "limit")
                    order = buy ? EnterLongLimit(o.Quantity, (double)o.LimitPrice.Value, o.Key) : EnterShortLimit(o.Quantity, (double)o.LimitPrice.Value, o.Key);
                else if (o.OrderType == "stop")
                    order = buy ? EnterLongStopMarket(o.Quantity, (double)o.StopPrice.Value, o.Key) : EnterShortStopMarket(o.Quantity, (double)o.StopPrice.Value, o.Key);
                else
                    order = buy ? EnterLong(o.Quantity, o.Key) : EnterShort(o.Quantity, o.Key);
                if (order == null) return BrokerResult.No("NinjaTrader ignored the entry (see the NinjaScript output)");
                orders[o.Key] = order;
                return BrokerResult.Ok();
            });
        }

        public BrokerResult Cancel(string account, string orderKey)
        {
            return OnStrategyThread(() =>
            {
                Order order;
                if (!orders.TryGetValue(orderKey, out order)) return BrokerResult.No("no order " + orderKey);
                CancelOrder(order);
                return BrokerResult.Ok();
            });
        }

        public BrokerResult Flatten(string account, bool cancelWorking)
        {
            return OnStrategyThread(() =>
            {
                if (cancelWorking)
                    foreach (var order in orders.Values)
                        if (order.OrderState == OrderState.Working || order.OrderState == OrderState.Accepted) CancelOrder(order);
                if (Position.MarketPosition == MarketPosition.Long) ExitLong();
                else if (Position.MarketPosition == MarketPosition.Short) ExitShort();
                return BrokerResult.Ok();
            });
        }

        public IList<PositionReport> Positions(string account)
        {
            var result = new List<PositionReport>();
            if (Position != null && Position.MarketPosition != MarketPosition.Flat)
                result.Add(new PositionReport
                {
                    Account = Account.Name, Symbol = Instrument.FullName,
                    Quantity = Position.MarketPosition == MarketPosition.Long ? Position.Quantity : -Position.Quantity,
                    AveragePrice = (decimal)Position.AveragePrice,
                });
            return result;
        }

        public AccountReport Balance(string account)
        {
            return new AccountReport
            {
                Account = Account.Name,
                Balance = (decimal)Account.Get(AccountItem.CashValue, Currency.UsDollar),
                Realized = (decimal)Account.Get(AccountItem.RealizedProfitLoss, Currency.UsDollar),
                Open = (decimal)Account.Get(AccountItem.UnrealizedProfitLoss, Currency.UsDollar),
            };
        }

        // ------------------------------------------------------------------ NinjaTrader events -> hub
        protected override void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
                                              double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error,
                                              string comment)
        {
            if (session == null || order == null) return;
            string status = orderState == OrderState.Filled ? "filled" : orderState == OrderState.PartFilled ? "partially_filled"
                          : orderState == OrderState.Cancelled ? "cancelled" : orderState == OrderState.Rejected ? "rejected" : "working";
            session.ReportOrder(order.Name, Account.Name, status, filled, (decimal)averageFillPrice, order.OrderId,
                                error == ErrorCode.NoError ? "" : comment);
        }

        protected override void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
                                                  MarketPosition marketPosition, string orderId, DateTime time)
        {
            if (session == null || execution == null || execution.Order == null) return;
            bool buy = execution.Order.OrderAction == OrderAction.Buy || execution.Order.OrderAction == OrderAction.BuyToCover;
            session.ReportFill("nt:" + executionId, execution.Order.Name, Account.Name, Instrument.FullName, buy ? "buy" : "sell",
                               quantity, (decimal)price, (decimal)execution.Commission,
                               new DateTimeOffset(time.ToUniversalTime(), TimeSpan.Zero));
        }

        protected override void OnPositionUpdate(Position position, double averagePrice, int quantity, MarketPosition marketPosition)
        {
            if (session == null) return;
            session.ReportPosition(new PositionReport
            {
                Account = Account.Name, Symbol = Instrument.FullName,
                Quantity = marketPosition == MarketPosition.Long ? quantity : marketPosition == MarketPosition.Short ? -quantity : 0,
                AveragePrice = (decimal)averagePrice,
            });
            session.ReportAccount(Balance(Account.Name));
        }

        protected override void OnBarUpdate() { }
    }
}
