// Enigma-Apex strategy for NinjaTrader 8: executes the hub's orders for the chart's instrument and this account
// with managed orders, for traders who run a strategy rather than the AddOn. Entries use the live-until-cancelled
// overloads (EnterLongLimit / EnterLongStopMarket / EnterLongStopLimit ...) so a resting entry does not expire at
// the end of the bar; the bracket is SetStopLoss / SetProfitTarget from the entry's signal; exits are
// ExitLong / ExitShort with the quantity (an exit never reverses); an entry against an open opposite position is
// refused (the managed approach would reverse it; the hub closes first). Reports and flattens the account's
// position in the instrument (PositionAccount), not only the strategy's own. It speaks the executor protocol
// (docs/protocol.md) with its own executor token: one token per client (the AddOn has another). Hub commands run on
// the strategy's thread (TriggerCustomEvent), as NinjaScript requires. Orders go out with the strategy's
// TimeInForce (Day by default, as the hub's orders); an order with another time in force is refused.
#region Using declarations
using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.IO;
using System.Threading;
using System.Xml.Serialization;
using EnigmaApex.Platform;
using EnigmaApex.Protocol;
using NinjaTrader.Cbi;
#endregion

namespace NinjaTrader.NinjaScript.Strategies
{
    public class EnigmaApexAutoTrader : Strategy, IBroker
    {
        HubConnection connection;
        ExecutorSession session;
        readonly Dictionary<string, Order> orders = new Dictionary<string, Order>();  // by order reference
        DateTime lastReport = DateTime.MinValue;

        public string HubUrl { get; set; }
        /// <summary>The executor token of this strategy. Never saved in workspaces ([XmlIgnore]): once entered it is
        /// kept, encrypted for this Windows user, in Documents\NinjaTrader 8\EnigmaApex\.</summary>
        [XmlIgnore]
        [PasswordPropertyText(true)]
        public string Token { get; set; }
        public double FlattenAfterDisconnectSeconds { get; set; }
        /// <summary>The hub connection (diagnostics; not a setting).</summary>
        [Browsable(false)]
        [XmlIgnore]
        public HubConnection Connection { get { return connection; } }

        string SettingsPath
        {
            get
            {
                string name = ExecutorSession.SafeKey(Account != null ? Account.Name : "account");
                return Path.Combine(Path.Combine(NinjaTrader.Core.Globals.UserDataDir, "EnigmaApex"), "strategy-" + name + ".json");
            }
        }

        protected override void OnStateChange()
        {
            try
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
                    TimeInForce = TimeInForce.Day;
                    HubUrl = "ws://127.0.0.1:8765";
                    Token = "";
                    FlattenAfterDisconnectSeconds = 30;
                }
                else if (State == State.Realtime)
                    Connect();
                else if (State == State.Terminated)
                {
                    Account.AccountStatusUpdate -= OnAccountStatus;
                    if (Account != null) Account.PositionUpdate -= OnAccountPosition;
                    if (Account != null) Account.ExecutionUpdate -= OnAccountExecution;
                    if (connection != null) connection.Dispose();  // never blocks
                    connection = null;
                }
            }
            catch (Exception ex)
            {
                Print("Enigma-Apex: " + ex.GetType().Name + ": " + ex.Message);
            }
        }

        void Connect()
        {
            var saved = ClientSettings.Load(SettingsPath);
            string token = string.IsNullOrEmpty(Token) ? saved.Token : Token;
            if (string.IsNullOrEmpty(token)) token = Environment.GetEnvironmentVariable("ENIGMA_APEX_TOKEN") ?? "";
            if (!string.IsNullOrEmpty(Token) && Token != saved.Token)
            {
                saved.Token = Token;
                saved.HubUrl = HubUrl;
                saved.Save(SettingsPath);
            }
            Token = "";  // not kept in the strategy's properties
            if (string.IsNullOrEmpty(token)) { Print("Enigma-Apex: no executor token; not connecting"); return; }
            session = new ExecutorSession(this);
            connection = new HubConnection(HubUrl, token, "NinjaTrader strategy", session)
            {
                FlattenAfterDisconnectSeconds = FlattenAfterDisconnectSeconds,
                Status = text => Print("Enigma-Apex: " + text),
                FlattenAll = () => OnStrategyThread(() => Flatten(Account.Name, true)),
            };
            Account.AccountStatusUpdate += OnAccountStatus;
            Account.PositionUpdate += OnAccountPosition;  // manual trades in this instrument move the account too
            Account.ExecutionUpdate += OnAccountExecution;
            connection.Start();
            Print("Enigma-Apex: connecting to " + HubUrl + " with token " + ClientSettings.Masked(token));
        }

        /// <summary>Run on the strategy's thread and wait (at most 10 s) for the result; an exception becomes a
        /// refusal with its message, never an exception on the caller's (thread-pool) thread.</summary>
        T OnStrategyThread<T>(Func<T> action) where T : class
        {
            T result = null;
            Exception failure = null;
            using (var done = new ManualResetEventSlim())
            {
                TriggerCustomEvent(_ =>
                {
                    try { result = action(); }
                    catch (Exception ex) { failure = ex; }
                    finally { done.Set(); }
                }, null);
                if (!done.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the strategy thread did not answer");
            }
            if (failure != null) throw new InvalidOperationException(failure.Message, failure);
            return result;
        }

        void OnAccountStatus(object sender, AccountStatusEventArgs e)
        {
            try
            {
                var s = session;
                if (s != null && e.Account == Account) s.ReportAccountStatus(Account.Name, AccountBroker.ConnectionText(e.Status), e.Message);
            }
            catch (Exception ex) { Print("Enigma-Apex: account status: " + ex.Message); }
        }

        void OnAccountPosition(object sender, PositionEventArgs e)
        {
            try
            {
                if (e.Position == null || e.Position.Instrument != Instrument) return;
                var s = session;
                if (s == null) return;
                int signed = e.Operation == Operation.Remove ? 0 : Signed(e.Position);
                s.ReportPosition(new PositionReport
                {
                    Account = Account.Name, Symbol = Instrument.FullName, Quantity = signed,
                    AveragePrice = signed == 0 ? (decimal?)null : (decimal)e.AveragePrice,
                });
            }
            catch (Exception ex) { Print("Enigma-Apex: account position: " + ex.Message); }
        }

        /// <summary>Every execution in this account and instrument (the hub drops the strategy's own, reported
        /// twice under the same fill id).</summary>
        void OnAccountExecution(object sender, ExecutionEventArgs e)
        {
            try
            {
                var x = e.Execution;
                var s = session;
                if (s == null || x == null || x.Instrument != Instrument) return;
                OnExecutionUpdate(x, x.ExecutionId, x.Price, x.Quantity, x.MarketPosition, x.OrderId, x.Time);
            }
            catch (Exception ex) { Print("Enigma-Apex: account execution: " + ex.Message); }
        }

        int OwnSigned { get { return Position.MarketPosition == MarketPosition.Long ? Position.Quantity : Position.MarketPosition == MarketPosition.Short ? -Position.Quantity : 0; } }

        static int Signed(Position p)
        {
            return p == null ? 0 : p.MarketPosition == MarketPosition.Long ? p.Quantity : p.MarketPosition == MarketPosition.Short ? -p.Quantity : 0;
        }

        // ------------------------------------------------------------------ IBroker (called by the session)
        public IList<string> Accounts() { return new List<string> { Account.Name }; }

        public string ConnectionOf(string account) { return AccountBroker.ConnectionText(Account.ConnectionStatus); }

        public BrokerResult Place(OrderCommand o)
        {
            if (o.Account != Account.Name) return BrokerResult.No("this strategy trades " + Account.Name + " only");
            if (o.Symbol != Instrument.FullName) return BrokerResult.No("this strategy trades " + Instrument.FullName + " only");
            if (Account.ConnectionStatus != ConnectionStatus.Connected)
                return BrokerResult.No("NinjaTrader's connection for " + Account.Name + " is " + AccountBroker.ConnectionText(Account.ConnectionStatus));
            string tif = TimeInForce == TimeInForce.Gtc ? "gtc" : "day";
            if (!o.Reduces && o.Tif != tif)
                return BrokerResult.No("this strategy's orders are " + tif + " (its Time in force setting); the hub asked for " + o.Tif);
            return OnStrategyThread(() =>
            {
                if (orders.ContainsKey(o.Ref)) return new BrokerResult(true, "already placed");
                int held = OwnSigned;
                Order order;
                if (o.Reduces)
                {
                    if (held == 0 || (held > 0) == o.Buy) return BrokerResult.No("nothing to close: the strategy holds " + held);
                    int qty = Math.Min(o.Quantity, Math.Abs(held));
                    order = o.Buy ? ExitShort(qty, o.Ref, "") : ExitLong(qty, o.Ref, "");
                }
                else
                {
                    if (held != 0 && (held > 0) != o.Buy)
                        return BrokerResult.No("an entry against the open position would reverse it; close it first");
                    if (o.BracketStop.HasValue) SetStopLoss(o.Ref, CalculationMode.Price, (double)o.BracketStop.Value, false);
                    if (o.BracketTarget.HasValue) SetProfitTarget(o.Ref, CalculationMode.Price, (double)o.BracketTarget.Value);
                    double limit = (double)(o.LimitPrice ?? 0), stop = (double)(o.StopPrice ?? 0);
                    switch (o.OrderType)
                    {
                        case "market": order = o.Buy ? EnterLong(o.Quantity, o.Ref) : EnterShort(o.Quantity, o.Ref); break;
                        case "limit": order = o.Buy ? EnterLongLimit(0, true, o.Quantity, limit, o.Ref) : EnterShortLimit(0, true, o.Quantity, limit, o.Ref); break;
                        case "stop": order = o.Buy ? EnterLongStopMarket(0, true, o.Quantity, stop, o.Ref) : EnterShortStopMarket(0, true, o.Quantity, stop, o.Ref); break;
                        case "stop_limit":
                            order = o.Buy ? EnterLongStopLimit(0, true, o.Quantity, limit, stop, o.Ref) : EnterShortStopLimit(0, true, o.Quantity, limit, stop, o.Ref);
                            break;
                        default: return BrokerResult.No("unknown order_type " + o.OrderType);
                    }
                }
                if (order == null) return BrokerResult.No("NinjaTrader ignored the order (see the NinjaScript output)");
                orders[o.Ref] = order;
                return BrokerResult.Ok();
            });
        }

        public BrokerResult Cancel(string account, string orderKey, string orderRef)
        {
            return OnStrategyThread(() =>
            {
                Order order;
                if (!orders.TryGetValue(orderRef, out order)) return BrokerResult.No("no order " + orderKey);
                if (Order.IsTerminalState(order.OrderState)) return BrokerResult.No("order " + orderKey + " is " + order.OrderState);
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
                        if (!Order.IsTerminalState(order.OrderState)) CancelOrder(order);
                int own = OwnSigned, all = Signed(PositionAccount);
                if (own != 0 && own == all)
                {
                    if (own > 0) ExitLong(own, "Flatten", ""); else ExitShort(-own, "Flatten", "");
                }
                else if (all != 0)
                    Account.Flatten(new[] { Instrument });  // the account holds more than the strategy: close it all
                return BrokerResult.Ok();
            });
        }

        public IList<PositionReport> Positions(string account)
        {
            var result = new List<PositionReport>();
            var p = PositionAccount;
            int signed = Signed(p);
            if (signed != 0)
                result.Add(new PositionReport { Account = Account.Name, Symbol = Instrument.FullName, Quantity = signed, AveragePrice = (decimal)p.AveragePrice });
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

        /// <summary>The name the hub knows an order by: the entry's reference, "ref:stop" / "ref:target" for the
        /// managed stop loss and profit target of that entry.</summary>
        static string KeyOf(Order order)
        {
            if (order.Name == "Stop loss" && !string.IsNullOrEmpty(order.FromEntrySignal)) return order.FromEntrySignal + ":stop";
            if (order.Name == "Profit target" && !string.IsNullOrEmpty(order.FromEntrySignal)) return order.FromEntrySignal + ":target";
            return order.Name;
        }

        // ------------------------------------------------------------------ NinjaTrader events -> hub
        protected override void OnOrderUpdate(Order order, double limitPrice, double stopPrice, int quantity, int filled,
                                              double averageFillPrice, OrderState orderState, DateTime time, ErrorCode error,
                                              string comment)
        {
            if (session == null || order == null) return;
            string key = KeyOf(order);
            if (OrderRefs.Of(key) == null) return;  // not an order of the hub's
            string status = orderState == OrderState.Filled ? "filled" : orderState == OrderState.PartFilled ? "partially_filled"
                          : orderState == OrderState.Cancelled ? "cancelled" : orderState == OrderState.Rejected ? "rejected"
                          : orderState == OrderState.Submitted || orderState == OrderState.Accepted || orderState == OrderState.Initialized ? "accepted"
                          : "working";
            session.ReportOrder(key, Account.Name, status, filled, (decimal)averageFillPrice, order.OrderId,
                                error == ErrorCode.NoError ? "" : comment);
        }

        protected override void OnExecutionUpdate(Execution execution, string executionId, double price, int quantity,
                                                  MarketPosition marketPosition, string orderId, DateTime time)
        {
            if (session == null || execution == null) return;
            // an execution without an Order (an exit on session close) is reported all the same
            string key = execution.Order != null && OrderRefs.Of(KeyOf(execution.Order)) != null ? KeyOf(execution.Order)
                       : "nt:" + (execution.Order != null ? execution.Order.OrderId : executionId);
            session.ReportFill("nt:" + executionId, key, Account.Name, Instrument.FullName,
                               marketPosition == MarketPosition.Long ? "buy" : "sell", quantity, (decimal)price,
                               (decimal)execution.Commission, new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)));
        }

        protected override void OnPositionUpdate(Position position, double averagePrice, int quantity, MarketPosition marketPosition)
        {
            if (session == null) return;
            var p = PositionAccount;  // the account's position, manual trades included
            int signed = Signed(p);
            session.ReportPosition(new PositionReport
            {
                Account = Account.Name, Symbol = Instrument.FullName, Quantity = signed,
                AveragePrice = signed == 0 ? (decimal?)null : (decimal)p.AveragePrice,
            });
            session.ReportAccount(Balance(Account.Name));
        }

        protected override void OnBarUpdate()
        {
            // open P&L and the price between fills, at most 4 times a second
            if (session == null || !session.AcceptingEntries || (DateTime.UtcNow - lastReport).TotalMilliseconds < 250) return;
            lastReport = DateTime.UtcNow;
            session.ReportAccount(Balance(Account.Name));
            var md = Instrument.MarketData;
            if (md != null && md.Last != null)
                session.ReportMarketData(Instrument.FullName, md.Bid != null ? (decimal?)md.Bid.Price : null,
                                         md.Ask != null ? (decimal?)md.Ask.Price : null, (decimal)md.Last.Price);
        }
    }
}
