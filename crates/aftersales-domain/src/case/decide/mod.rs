//! The rules: given the case and a command, the events that happen or the
//! rule that stops them.
//!
//! One file per SOP section, as `docs/domain.md` is organised; this one
//! checks what every command must pass (a registered, open case) and hands
//! the command to its section.

mod calls;
mod compensation;
mod follow_up;
mod parcels;
mod refunds;
mod registration;
mod returns;

use super::commands::*;
use super::events::*;
use super::state::*;
use crate::aggregate::Context;
use crate::error::DomainError;

pub(super) type Decision = Result<Vec<CaseEvent>, DomainError>;

/// How far in the future a reported time may lie (clock skew between devices).
pub(super) const CLOCK_SKEW_MINUTES: i64 = 5;

impl Case {
    pub(super) fn decide_command(&self, command: &CaseCommand, ctx: &Context<'_>) -> Decision {
        if let CaseCommand::RegisterCase(c) = command {
            return self.register(c, ctx);
        }
        match self.status {
            Status::New => return Err(DomainError::CaseNotRegistered),
            Status::Merged => {
                return Err(DomainError::CaseMerged {
                    survivor: self.merged_into.unwrap_or_default(),
                })
            }
            Status::Closed => {
                if !matches!(
                    command,
                    CaseCommand::ReopenCase(_)
                        | CaseCommand::RecordCustomerFeedback(_)
                        | CaseCommand::ExecuteRefund(_)
                        | CaseCommand::PayCompensation(_)
                        | CaseCommand::PayPriceDifferenceRefund(_)
                        | CaseCommand::SettleCourierClaim(_)
                        | CaseCommand::ScheduleRevisit(_)
                        | CaseCommand::RecordRevisit(_)
                        | CaseCommand::ReimbursePostage(_)
                        | CaseCommand::AddCaseNote(_)
                        | CaseCommand::CloseFollowUp(_)
                        | CaseCommand::LinkIncident(_)
                        | CaseCommand::RecordRootCause(_)
                ) {
                    return Err(DomainError::CaseClosed);
                }
            }
            Status::Open => {}
        }
        match command {
            CaseCommand::RegisterCase(_) => Err(DomainError::CaseAlreadyRegistered),
            CaseCommand::AssignCase(c) => self.assign_case(c, ctx),
            CaseCommand::ChangePriority(c) => self.change_priority(c, ctx),
            CaseCommand::ChangeCategory(c) => self.change_category(c, ctx),
            CaseCommand::FlagComplaint(c) => self.flag_complaint(c, ctx),
            CaseCommand::PauseSla(c) => self.pause_sla(c, ctx),
            CaseCommand::ResumeSla(_) => self.resume(ctx),
            CaseCommand::RecordSlaAtRisk(c) => self.at_risk(c.clock, ctx),
            CaseCommand::RecordSlaBreach(c) => self.breach(c.clock, ctx),
            CaseCommand::EscalateCase(c) => self.escalate_case(c, ctx),
            CaseCommand::AgreeDeadline(c) => self.agree_deadline(c, ctx),
            CaseCommand::MergeCase(c) => self.merge_case(c, ctx),
            CaseCommand::SplitCase(c) => self.split_case(c, ctx),
            CaseCommand::LogCall(c) => self.log_call(c, ctx),
            CaseCommand::RecordContactAttempt(c) => self.record_contact_attempt(c, ctx),
            CaseCommand::ReportParcelProblem(c) => self.report_parcel_problem(c, ctx),
            CaseCommand::AddParcelPhotos(c) => self.add_parcel_photos(c, ctx),
            CaseCommand::ChaseParcel(c) => self.chase_parcel(c, ctx),
            CaseCommand::ExtendReceipt(c) => self.extend_receipt(c, ctx),
            CaseCommand::ConfirmParcelLost(c) => self.confirm_parcel_lost(c, ctx),
            CaseCommand::ReshipParcel(c) => self.reship_parcel(c, ctx),
            CaseCommand::RecallParcel(_) => self.recall_parcel(ctx),
            CaseCommand::TransferToCarrier(c) => self.transfer_to_carrier(c, ctx),
            CaseCommand::ArrangeSelfPickup(c) => self.arrange_self_pickup(c, ctx),
            CaseCommand::ReturnParcelToSender(c) => self.return_to_sender(c, ctx),
            CaseCommand::FileCourierClaim(c) => self.file_courier_claim(c, ctx),
            CaseCommand::SettleCourierClaim(c) => self.settle_courier_claim(c, ctx),
            CaseCommand::RequestReturn(c) => self.request_return(c, ctx),
            CaseCommand::AuthoriseReturn(c) => self.authorise_return(c, ctx),
            CaseCommand::ReceiveReturnParcel(c) => self.receive_return_parcel(c, ctx),
            CaseCommand::InspectReturn(c) => self.inspect_return(c, ctx),
            CaseCommand::RestockReturn(c) => self.restock_return(c, ctx),
            CaseCommand::RequestExchange(c) => self.request_exchange(c, ctx),
            CaseCommand::ReceiveExchangeParcel(c) => self.receive_exchange_parcel(c, ctx),
            CaseCommand::RecordAdvancedPostage(c) => self.record_advanced_postage(c, ctx),
            CaseCommand::ReimbursePostage(c) => self.reimburse_postage(c, ctx),
            CaseCommand::CreateReshipOrder(c) => self.create_reship_order(c, ctx),
            CaseCommand::SignOffReshipOrder(c) => self.sign_off_reship_order(c, ctx),
            CaseCommand::ShipReshipOrder(c) => self.ship_reship_order(c, ctx),
            CaseCommand::RequestRefund(c) => self.request_refund(c, ctx),
            CaseCommand::RecordPlatformRefundDeadline(c) => {
                self.record_platform_refund_deadline(c, ctx)
            }
            CaseCommand::ApproveRefund(c) => self.approve_refund(c, ctx),
            CaseCommand::AutoAcceptRefund(c) => self.auto_accept_refund(c, ctx),
            CaseCommand::RejectRefund(c) => self.reject_refund(c, ctx),
            CaseCommand::ExecuteRefund(c) => self.execute_refund(c, ctx),
            CaseCommand::OfferCompensation(c) => self.offer_compensation(c, ctx),
            CaseCommand::PayCompensation(c) => self.pay_compensation(c, ctx),
            CaseCommand::RequestPriceDifferenceRefund(c) => {
                self.request_price_difference_refund(c, ctx)
            }
            CaseCommand::PayPriceDifferenceRefund(c) => self.pay_price_difference_refund(c, ctx),
            CaseCommand::RequestApproval(c) => self.request_approval(c, ctx),
            CaseCommand::ApproveRequest(c) => self.approve_request(c, ctx),
            CaseCommand::RejectRequest(c) => self.reject_request(c, ctx),
            CaseCommand::HandOffCase(c) => self.hand_off_case(c, ctx),
            CaseCommand::ConfirmHandoff(c) => self.confirm_handoff(c, ctx),
            CaseCommand::EscalateHandoff(c) => self.escalate_handoff(c, ctx),
            CaseCommand::RecordDepartmentResponse(c) => self.record_department_response(c, ctx),
            CaseCommand::InformCustomer(c) => self.inform_customer(c, ctx),
            CaseCommand::AddCaseNote(c) => self.add_case_note(c, ctx),
            CaseCommand::LinkIncident(c) => self.link_incident(c, ctx),
            CaseCommand::RecordRootCause(c) => self.record_root_cause(c, ctx),
            CaseCommand::ScheduleRevisit(c) => self.schedule_revisit(c, ctx),
            CaseCommand::RecordRevisit(c) => self.record_revisit(c, ctx),
            CaseCommand::CloseFollowUp(c) => self.close_follow_up(c, ctx),
            CaseCommand::CloseCase(c) => self.close_case(c, ctx),
            CaseCommand::RecordCustomerFeedback(c) => self.record_customer_feedback(c, ctx),
            CaseCommand::ReopenCase(c) => self.reopen_case(c, ctx),
        }
    }
}
